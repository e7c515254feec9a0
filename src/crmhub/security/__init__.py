"""Who is acting and what they may do: operators, roles, the one guard every command passes, four-eyes approval."""
