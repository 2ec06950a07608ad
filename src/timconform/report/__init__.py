"""Results and reports: one results tree, written as results.json, junit.xml and report.html."""
