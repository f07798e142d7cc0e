CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    owner VARCHAR(100) NOT NULL,
    balance BIGINT NOT NULL
);
