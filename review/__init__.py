"""Review stage: matches become review items; strict matches are confirmed automatically."""
