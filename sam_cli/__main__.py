from sam_cli.cli import main

main()
