"""The commerce flow (商流): catalog, cart, promotions, pricing, orders and quotes."""
