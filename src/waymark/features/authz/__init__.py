"""Authorization as users see it: the role-by-action tables that `kernel.authz` enforces."""
