"""Reports: reproduce the homework's experiments and render summary.json, report.md and report.html from run folders."""
