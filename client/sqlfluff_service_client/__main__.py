from sqlfluff_service_client.cli import main

raise SystemExit(main())
