"""The benchmark suite's sections: in-process figures, CSV exports, load on a real server (one module each)."""
