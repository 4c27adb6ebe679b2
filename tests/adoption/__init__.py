"""The extension as two different apps adopted it: one shared test module, run against both."""
