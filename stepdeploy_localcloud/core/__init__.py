"""moto's core (request routing), made safe for a server that many threads call at once."""
