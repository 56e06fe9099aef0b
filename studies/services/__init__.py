"""Workflows of the studies app (thin views call these; see DESIGN.md "Style")."""
