"""Readers for the statutory returns councils already produce (CIN census XML, SSDA903, Annex A
workbooks, the termly school census).

Each reader flattens a return into one text row per social-care event, with columns of its own
fixed layout; a built-in column map (`sources/maps/<format>.yaml`) then maps that layout onto the
social-care kind like any supplier export, so validation, quarantine and loading are the ones
every other extract goes through. Element names, year differences and table layouts are data
(`specs/*.yaml`), as are Annex A's sheet, header and value patterns; the code only walks them.
"""
