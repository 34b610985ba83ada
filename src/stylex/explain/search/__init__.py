"""Searching StyleSpace: the effect of every single-coordinate edit (exactly, or to first
order), IMAGE mode's screen prior, and AttFind."""
