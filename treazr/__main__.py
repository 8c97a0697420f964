from treazr.cli import main

main()
