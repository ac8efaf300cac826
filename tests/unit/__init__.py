"""Unit tests, mirroring the package tree. A package (with the folders below that hold ``__init__.py``), so
pytest names each test module by its path (``unit.billecta_sync.usecases.lime_to_billecta.test_debtors``) and
two test files may share a basename; only ``tests/`` goes on ``sys.path``, never ``tests/unit``, so these
folders never shadow the real ``billecta_sync`` or ``workers`` packages."""
