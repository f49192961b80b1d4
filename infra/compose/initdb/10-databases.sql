-- One PostgreSQL server, one database per service (the ledger's is created by POSTGRES_DB).
CREATE DATABASE mlflow OWNER alflow;
CREATE DATABASE prefect OWNER alflow;
