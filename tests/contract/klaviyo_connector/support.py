"""Shared constants of the Klaviyo connector contract tests."""

API_KEY = "pk_contract_test_key"
