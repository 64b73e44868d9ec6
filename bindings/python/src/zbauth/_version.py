"""The package version. It equals the library's (``zbauth.library_version()``)
and core/version.go's; the tests check that they agree."""

__version__ = "0.1.0"
