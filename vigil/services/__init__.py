"""Services over stages and storage: missing-person cases, back-scan, evidence, retention."""
