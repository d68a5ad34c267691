//! Pure detection: Python source + catalog + versions in, findings out.
