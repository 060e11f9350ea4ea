"""Reports: what a run leaves behind for a person to read.

- `contract`: the contract's pytest-html attachments for a failing case -- the JSON case
  file, the overlay and the diff table (HTML from the Jinja2 templates in ``templates/``);
- `dataset`: the dataset scan's static HTML report (``templates/scan/``, ``static/``): the
  index with figures (`plots`) and the table of images, and a page per image worth a look;
- `views`: the seed notebook's views of one scanned image, for those pages and ``show``.
"""
