from letterlab.cli.main import entry

entry()
