/* The live stream (Server-Sent Events): built by the live part of issue 23. */
