-- Orthanc keeps its index in its own database on the same server.
CREATE DATABASE orthanc OWNER radlink;
