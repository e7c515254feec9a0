"""crmhub's adapter for a core banking ledger with an Apache Fineract-shaped API.

Offers the ``core_ledger`` connector (clients, savings accounts, transactions and loans, read-only), a Fineract
simulator for the sandbox, and bank-statement import (SWIFT MT940, ISO 20022 camt.053).
"""
