"""crmhub's Zoho CRM v8 plugin: the ``zoho_crm`` connector and its simulator."""
