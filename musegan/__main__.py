from musegan.cli import run

run()
