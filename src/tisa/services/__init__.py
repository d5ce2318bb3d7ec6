"""What users of a node do (drafts, release, consent, reading, channels, events, accounts),
and the one gate every movement and opening asks."""
