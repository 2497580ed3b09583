from sam_cli.cli import main

# Guarded: processes started with "spawn" (DataLoader workers on macOS, say) import this module again.
if __name__ == "__main__":
    main()
