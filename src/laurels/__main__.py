from laurels.entry import main

main()
