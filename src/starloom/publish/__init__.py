"""What a run shares: HTML reports of the executed notebooks with their index page
(reports), the docs site of models and tables (site), and the charts both use (charts)."""
