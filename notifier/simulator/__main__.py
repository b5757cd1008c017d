from notifier.simulator.cli import main

main()
