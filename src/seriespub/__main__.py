from seriespub.cli import main

main()
