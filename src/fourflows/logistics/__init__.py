"""The logistics flow (物流): stock, shipping fees, delivery promises, shipments and carriers."""
