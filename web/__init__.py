"""Web app (analysts, operators, admins, providers, hash-check API): top of the stage stack; see web/app.py."""
