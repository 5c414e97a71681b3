"""Analytics: what each campaign, sequence, step, variant, template, mailbox and owner achieved."""
