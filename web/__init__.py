"""Web app (analysts, operators, providers, hash-check API): top of the stage stack, arriving with its issue."""
