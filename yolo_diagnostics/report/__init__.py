"""Reports: what a run leaves behind for a person to read.

- `contract`: the contract's pytest-html attachments for a failing case -- the JSON case
  file, the overlay and the diff table (HTML from the Jinja2 templates in ``templates/``).
- soon, the dataset scan's HTML report.
"""
