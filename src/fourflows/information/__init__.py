"""The information flow (資訊流): what the shop tells its customers about their orders."""
