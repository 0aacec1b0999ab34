"""Notifier stage: confirmed sightings become takedown notices to hosting providers."""
