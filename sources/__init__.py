"""Reading agency extracts and turning them into canonical records.

Each extract kind (children's social care, police, school, YOT) has a canonical specification in
`sources/kinds/`; each supplier system's export of a kind is described by a column map in
`sources/maps/`. Nothing here knows about linkage.
"""
