from distweb.cli import main

main()
