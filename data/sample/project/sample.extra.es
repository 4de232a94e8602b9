La Comisión está de acuerdo con el Consejo .
El Parlamento Europeo se reunió en Estrasburgo .
El señor Prodi habló al Parlamento .
Portugal y España son miembros de la Unión .
El Protocolo de Kioto es importante .
Doy las gracias al Consejo .
