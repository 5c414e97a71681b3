"""The composer: a one-off email to one or more leads, written with the same editor, variables
and previews as templates, saved as a draft, sent now or scheduled through the outbox."""
