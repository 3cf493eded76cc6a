"""The controller process, assembled: the engine and the HTTP apps it serves beside its
controllers (the dashboard), as `kidp controller run` starts them.

Where it fits: the engine imports no face and the faces never import each other, so
the one place that knows both the engine and the dashboard is here; the CLI's
`controller run` hands over its flags (`controller.build`) and runs what it gets.
"""
