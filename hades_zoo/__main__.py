from hades_zoo.cli import main

main()
