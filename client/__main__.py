from client.cli import run

run()
