"""Assigner factories that run the ``build_targets`` of real, published packages.

Each module here imports one package from PyPI and wraps its own assignment code as an
assigner factory ``make_assigner(problem, device)``, so the contract can be run on it:

- ``yolo_diagnostics.adapters.yolov5:make_assigner`` -- ``yolov5`` 7.0.x (ultralytics/yolov5
  packaged), ``yolov5.utils.loss.ComputeLoss.build_targets``;
- ``yolo_diagnostics.adapters.yolort:make_assigner`` -- ``yolort`` 0.6.3,
  ``yolort.models.box_head.SetCriterion.build_targets``.

The packages are not dependencies of this project: each module's docstring gives the install
command (the packages themselves with ``--no-deps``, then the few libraries their imports
need), and importing a module without its package raises one `ImportError` saying so.
"""
