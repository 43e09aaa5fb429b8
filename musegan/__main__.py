from musegan.cli import main

main()
