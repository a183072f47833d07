"""JupyterLab settings of every starloom project, used by `starloom lab` (jupyter lab
--config=this file, shipped inside the package: a project needs no copy of it).

Ploomber's server extension injects each notebook's parameters (run_date from env.yaml,
upstream and product paths from pipeline.yaml) into a temporary cell when a notebook opens,
and removes it on save. With JupyterLab 4 its contents manager wraps the default
asynchronous one and every notebook fails to open (HTTP 500, "'coroutine' object is not
subscriptable"). Basing it on Jupytext's synchronous contents manager fixes that.

The kernels open the warehouse per call (starloom.warehouse), so an idle kernel never
holds the embedded warehouse: a `starloom run` can run while JupyterLab is open.
"""

c = get_config()  # noqa: F821

c.ServerApp.contents_manager_class = "jupytext.TextFileContentsManager"

# Nothing is fetched from the network: no update check, no news feed.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
