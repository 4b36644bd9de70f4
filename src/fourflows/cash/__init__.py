"""The cash flow (金流): payments, refunds, the ledger, invoices and payouts."""
